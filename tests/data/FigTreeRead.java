import figtree.application.FigTreeNexusImporter;
import jebl.evolution.graphs.Node;
import jebl.evolution.trees.RootedTree;
import jebl.evolution.trees.Tree;
import java.io.*;
import java.nio.charset.StandardCharsets;

/** Each node of every tree of each NEXUS file as FigTree reads it: a line "#file" ("#file#k" before
 *  the tree k = 1, 2, ... after the first), then per node
 *  "index TAB parent index TAB label TAB license" (characters below 0x20, tab and backslash as \\uXXXX),
 *  or "!error". Run: java -cp figtree.jar FigTreeRead.java FILE... */
public class FigTreeRead {
    static String esc(Object o) {
        if (o == null) return "";
        StringBuilder b = new StringBuilder();
        for (char c : o.toString().toCharArray()) b.append(c < 0x20 || c == '\\' || c == '\t' ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        return b.toString();
    }
    public static void main(String[] args) throws Exception {
      for (String path : args) {
        try (Reader r = new InputStreamReader(new FileInputStream(path), StandardCharsets.UTF_8)) {
            FigTreeNexusImporter importer = new FigTreeNexusImporter(r);
            for (int k = 0; ; k++) {
                String head = "#" + esc(path) + (k == 0 ? "" : "#" + k);
                RootedTree t;
                try {
                    if (k > 0 && !importer.hasTree()) break;
                    t = (RootedTree) importer.importNextTree();
                    System.out.println(head);
                } catch (Exception e) {
                    System.out.println(head);
                    System.out.println("!" + esc(e.getClass().getSimpleName() + ": " + e.getMessage()));
                    break;
                }
                java.util.Map<Node, Integer> id = new java.util.HashMap<>();
                for (Node n : t.getNodes()) id.put(n, id.size());
                for (Node n : t.getNodes()) {
                    Object label = t.isExternal(n) ? t.getTaxon(n).getName() : n.getAttribute("label");
                    Node p = t.getParent(n);
                    System.out.println(id.get(n) + "\t" + (p == null ? -1 : id.get(p)) + "\t" + esc(label) + "\t" + esc(n.getAttribute("license")));
                }
            }
        }
      }
    }
}

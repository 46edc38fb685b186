"""The simulator's scenarios and what each plants, apart from the simulator so that the
command line lists them without importing it."""

# what each scenario plants (truth["scenario_description"]); every scenario but the first is neutral
DESCRIPTIONS = {
    "directional": "license and language drift, changes shared by siblings and shorter, more templated "
                   "children's cards, on top of inherited traits",
    "neutral": "inherited traits with symmetric mutation, missingness independent of the value and cards "
               "drawn alike for every model: no planted direction, sharing or card effect",
    "founder": "as neutral, but every root declares a restrictive license and a multilingual language set",
    "heterogeneous": "as neutral, but each parent is a copier (children rarely change) or an editor "
                     "(children often change), each child still mutating on its own",
    "relations": "as neutral, but change rates depend on the relation type of the edge",
    "hard-neutral": "founder, heterogeneous and relations together: neutral, and hard for a test",
}
SCENARIOS = tuple(DESCRIPTIONS)

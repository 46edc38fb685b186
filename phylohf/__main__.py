import sys

try:
    from .cli import main
except KeyboardInterrupt:            # Ctrl-C while Python imports: nothing has started
    print("phylohf: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

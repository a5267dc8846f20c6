"""``python -m landscope`` runs the command line."""

from landscope.cli import main

if __name__ == "__main__":
    main()

"""``python -m druva``: the same as the ``druva`` command."""

from druva._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    main()

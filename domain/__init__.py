"""Pure, deterministic core of reisplan: journey definitions, conditions and calendar maths.

Nothing here does I/O or reads the clock, so workflow code may import it freely.
"""

"""Built-in texts shared by the command lines (``armbert run``, ``armbert convert``,
``armbert plan``): imported by both CLIs (armbert/cli.py, armbert/convert.py and
planner/search/cli.py), so neither imports the other for them. Imports nothing."""

# Sentences `armbert run` embeds (and `armbert plan` measures precision on).
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "Quantized BERT runs on the big cores of an ARM board.",
    "An int8 transformer executes on the Cortex-A cluster.",
]

# Calibration text for INT8 (outlier channels), distinct from SENTENCES above.
CALIBRATION = [
    "The weather is lovely today.", "He plays guitar in a band.",
    "Stock markets fell sharply on Monday.", "Neural networks learn representations from data.",
    "She bought fresh bread at the bakery.", "The train to the airport was delayed.",
]

"""Sentences the tests share (all words are in the tiny test vocabulary of conftest.py)."""

# a planted sentiment split: four clearly positive, four clearly negative
PLANTED = [
    ("good great fun", 1),
    ("great acting and a good story", 1),
    ("the best film", 1),
    ("funny and good", 1),
    ("bad awful boring", 0),
    ("the worst plot", 0),
    ("dull and bad acting", 0),
    ("awful boring story", 0),
]
TEXTS = ["the movie is good", "bad plot", "not very funny and a dull story", "great acting", "the worst film"]

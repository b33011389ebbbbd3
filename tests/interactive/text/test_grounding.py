import pandas as pd
import pytest

from rlrec.interactive.llm.agent import parse_action
from rlrec.interactive.text.grounding import display_catalogue, display_title


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("Shining, The", "The Shining"),
        ("Usual Suspects, The (1995)", "The Usual Suspects (1995)"),
        ("Postino, Il", "Il Postino"),
        ("Appartement, L'", "L'Appartement"),
        ("Toy Story", "Toy Story"),
        ("Three Colors: Blue", "Three Colors: Blue"),
    ],
)
def test_display_title_moves_trailing_articles(stored, shown):
    assert display_title(stored) == shown


def test_display_catalogue_keeps_ids():
    items = pd.DataFrame({"item_id": [7, 9], "title": ["Birdcage, The", "Heat"]})
    shown = display_catalogue(items)
    assert shown["title"].tolist() == ["The Birdcage", "Heat"]
    assert shown["item_id"].tolist() == [7, 9] and items["title"][0] == "Birdcage, The"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("recommend[The Shining; Jaws; Alien]", "The Shining"),
        ("Recommend[The", None),
        ("I suggest recommend[Heat]. It is great.", "Heat"),
        ("recommend[<movie title>]", None),
    ],
)
def test_parse_action_cuts_lists_and_refuses_fragments(text, title):
    assert parse_action(text) == title

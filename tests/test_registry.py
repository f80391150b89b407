import pytest

from polymodal.registry import Registry


def test_create_and_errors() -> None:
    reg: Registry[dict] = Registry("widget")

    @reg.register("box", "a box")
    def box(size: int = 1) -> dict:
        return {"size": size}

    assert reg.create("box", size=3) == {"size": 3}
    assert reg.names() == ["box"] and "box" in reg and len(reg) == 1
    with pytest.raises(ValueError, match="unknown widget 'ball'; known widgets: box"):
        reg.create("ball")
    with pytest.raises(ValueError, match="unknown argument\\(s\\) colour for widget 'box'; valid arguments: size"):
        reg.create("box", colour="red")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("box", "again")(box)

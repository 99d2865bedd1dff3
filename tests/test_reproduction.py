"""The README's Reproduction table is the one the committed run folders give."""

from __future__ import annotations

from pathlib import Path

from benchmark import reproduction

REPO = Path(__file__).resolve().parents[1]


def test_readme_reproduction_table_matches_the_committed_tables() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    committed = REPO / "results" / "reproduction"
    assert list(committed.glob("*/per_image.csv")), "results/reproduction holds no run"
    assert reproduction.readme_block(readme) == reproduction.markdown_table(committed)


def test_incomplete_cells_are_pending_never_filled(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    header = ("run_id,timestamp,method,config,weights,recipe,dataset,scale,image,psnr,ssim,"
              "ifc,seconds,status,device,dtype,threads,protocol,version\n")
    rows = "".join(f"r,t,vdsr,-,w,published,set5,2,{name},37.0,0.95,,1,ok,cpu,float32,1,"
                   f"drrn-matlab-v1,v\n" for name in ("baby", "bird", "butterfly", "head"))
    (run / "per_image.csv").write_text(header + rows)
    table = reproduction.markdown_table(tmp_path)
    assert "| vdsr | Set5 | 2 | 4/5 | pending | 37.53 | | pending | 0.9587 | |" in table
    (run / "per_image.csv").write_text(header + rows + rows.splitlines()[0].replace(
        "baby", "woman") + "\n")
    assert "| vdsr | Set5 | 2 | 5/5 | 37.00 | 37.53 | -0.53 | 0.9500 | 0.9587 | -0.0087 |" \
        in reproduction.markdown_table(tmp_path)


def test_readme_training_table_matches_the_committed_tables() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    trained = REPO / "results" / "trained" / "eval"
    assert list(trained.glob("*/per_image.csv")), "results/trained/eval holds no run"
    block = reproduction.readme_block(readme, reproduction.TRAINED_START,
                                      reproduction.TRAINED_END)
    assert block == reproduction.trained_table(trained, REPO / "results" / "reproduction")

"""The catalog's read models, one package each: its folds and its queries side by side,
one module per backend (`sqlite`, `redis`, `postgres`, `duckdb`; `<backend>_reads` for
the queries answered from that store). `registry` describes them all."""

"""
Embedding a million rows chunk by chunk with dask
=================================================

Inductive estimators map each row with what ``fit`` learned, so a fitted
:class:`~skalign.GWEmbeddingAligner` can embed far more rows than it was
trained on without ever holding them all in memory.
:func:`skalign.utils.apply_by_chunks` turns ``transform`` into one dask task
per chunk of rows; the same code runs on a laptop's threads or on a
``dask.distributed`` cluster.

Here the aligner is fitted on 300 rows of each domain of a synthetic
isometric pair, then embeds a lazily generated dask array of 1,000,000 new
source rows (in the NaN-padded one-table layout) and reduces the embeddings
chunk by chunk.
"""

import time

import dask.array as da
import numpy as np

from skalign import GWEmbeddingAligner
from skalign.datasets import make_isometric_pair
from skalign.utils import apply_by_chunks

data = make_isometric_pair(300, n_features=8, n_clusters=4, random_state=0)
aligner = GWEmbeddingAligner(max_epochs=10, n_init=1, random_state=0).fit(data.X)

# A million new source rows, never materialised: random features in the
# source block, NaN in the target block.
n_rows, n_source_features = 1_000_000, data.X_source.shape[1]
n_target_features = data.X_target.shape[1]
source_block = da.random.default_rng(0).normal(
    size=(n_rows, n_source_features), chunks=(100_000, n_source_features)
)
nan_block = da.full(
    (n_rows, n_target_features), np.nan, chunks=(100_000, n_target_features)
)
rows = da.concatenate([source_block, nan_block], axis=1)

embedding = apply_by_chunks(aligner, rows, "transform", chunk_size=100_000)
print(f"lazy embedding: shape {embedding.shape}, {embedding.numblocks[0]} chunks")

start = time.perf_counter()
mean_norm = da.linalg.norm(embedding, axis=1).mean().compute()
print(
    f"mean embedding norm over {n_rows:,} rows: {mean_norm:.3f} "
    f"({time.perf_counter() - start:.1f} s, one chunk of 100,000 rows in memory at a time)"
)

# The chunked result equals a direct transform on any slice of the rows.
head = rows[:1000].compute()
np.testing.assert_allclose(
    embedding[:1000].compute(), aligner.transform(head), rtol=1e-6
)
print("first 1,000 rows: chunked == direct transform")

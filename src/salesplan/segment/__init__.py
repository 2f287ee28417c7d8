"""Customer value segmentation: summaries, ABC, RFM, CLV, share of wallet, portfolio, cross-selling, processes."""

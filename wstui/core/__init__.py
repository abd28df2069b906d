"""The pure model: books, trade tape, stream stats and health.  No Textual, no sockets."""

from .book import ASK, BID, Book, BookSide
from .snapshot import BadRecord, ConnView, Snapshot, StreamView
from .stream import Event, Stream, Trade

__all__ = ["ASK", "BID", "Book", "BookSide", "BadRecord", "ConnView", "Snapshot", "StreamView", "Event",
           "Stream", "Trade"]

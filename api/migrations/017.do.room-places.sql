-- Issue 31 part 3: rooms as floor plans. A PC of a room may stand at a row and seat of the room's plan (both or
-- neither); no two PCs of a room on one seat.
ALTER TABLE room_nodes
  ADD COLUMN row_no smallint CHECK (row_no BETWEEN 1 AND 99),
  ADD COLUMN seat_no smallint CHECK (seat_no BETWEEN 1 AND 99),
  ADD CONSTRAINT room_nodes_place_whole CHECK ((row_no IS NULL) = (seat_no IS NULL));
CREATE UNIQUE INDEX room_nodes_seat ON room_nodes (room, row_no, seat_no);

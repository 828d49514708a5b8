-- Each queue row carries its message's place in delivery order, so a subscription's next
-- messages come from an index scan instead of sorting its whole backlog.
ALTER TABLE pubsub_endp_msg_queue ADD COLUMN priority INTEGER NOT NULL DEFAULT 5;
ALTER TABLE pubsub_endp_msg_queue ADD COLUMN order_time BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pubsub_endp_msg_queue ADD COLUMN pub_time BIGINT NOT NULL DEFAULT 0;
UPDATE pubsub_endp_msg_queue SET priority = m.priority, order_time = COALESCE(m.ext_pub_time, m.pub_time), pub_time = m.pub_time
  FROM pubsub_message m WHERE m.pub_msg_id = pubsub_endp_msg_queue.pub_msg_id;
CREATE INDEX pubsub_endp_msg_queue_order
  ON pubsub_endp_msg_queue (sub_key, is_deliverable, priority DESC, order_time, pub_time, pub_msg_id);

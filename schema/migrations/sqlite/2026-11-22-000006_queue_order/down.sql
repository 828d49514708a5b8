DROP INDEX pubsub_endp_msg_queue_order;
ALTER TABLE pubsub_endp_msg_queue DROP COLUMN pub_time;
ALTER TABLE pubsub_endp_msg_queue DROP COLUMN order_time;
ALTER TABLE pubsub_endp_msg_queue DROP COLUMN priority;

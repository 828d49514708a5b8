DROP TABLE pubsub_endp_msg_queue;
DROP TABLE pubsub_message;
DROP TABLE pubsub_sub;
DROP TABLE pubsub_endpoint;
DROP TABLE pubsub_topic;
DROP TABLE sb_admin_key;
DROP TABLE sb_meta;

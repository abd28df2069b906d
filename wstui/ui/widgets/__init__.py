"""The panels of the main screen: Line-API ladder, tape and events log; the streams table."""

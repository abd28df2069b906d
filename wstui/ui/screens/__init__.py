"""Full-screen views over the main screen (books, chart): each reads the same snapshots as the panels."""

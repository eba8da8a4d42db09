-- The database's pages; the WAL file comes on top until its next checkpoint.
SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()

UPDATE accounts SET domain = :domain WHERE node = :node AND domain = ''

print("mailbox-sim")

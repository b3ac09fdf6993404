package pgfleet_test

func runHelper(mode string) int { return 2 }

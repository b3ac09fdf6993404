package main

// The program prints what the README says it does. (Elsewhere than Linux,
// Manager.Start returns an error, which it prints instead.)
func Example() {
	main()
	// Output:
	// "hello\n" "oops\n" 0 false
}

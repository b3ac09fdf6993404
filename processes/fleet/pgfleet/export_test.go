package pgfleet

// ClaimSQL is the claim's statement, for the test of its plan.
const ClaimSQL = claimSQL

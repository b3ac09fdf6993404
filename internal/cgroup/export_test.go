package cgroup

// This file and export_linux_test.go give the external tests what they need
// from the inside.

// Parsers under test.
var (
	ParseMountinfo  = parseMountinfo
	ParseCgroupFile = parseCgroupFile
	JoinSelf        = joinSelf
	ParsePids       = parsePids
	ParseStat       = parseStat
	FlatKeyed       = flatKeyed
)

// OwnedName returns the directory name of o's n-th owned group.
func (o Owner) OwnedName(n uint64) string { return o.name(n) }

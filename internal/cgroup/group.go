package cgroup

// Path returns the directory the group was opened with, cleaned.
func (g *Group) Path() string { return g.path }

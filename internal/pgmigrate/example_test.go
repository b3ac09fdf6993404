package pgmigrate_test

import (
	"errors"
	"fmt"
	"testing/fstest"

	"github.com/sessionkit/sessionkit/internal/pgmigrate"
)

// A package embeds its migrations and describes them with a Set; its
// Migrate calls the Set's. Load checks the files without a database.
func ExampleSet() {
	files := fstest.MapFS{ // in a package: //go:embed migrations/*.sql
		"migrations/0001_sessions.sql": {Data: []byte("CREATE TABLE sessions (id text PRIMARY KEY)")},
		"migrations/0002_owner.sql":    {Data: []byte("ALTER TABLE sessions ADD owner text")},
	}
	schema := pgmigrate.Set{
		Pkg:          "mystore",
		FS:           files,
		Dir:          "migrations",
		Version:      2,
		LockKey:      0x5e55,
		VersionTable: "mystore_schema",
		TooNew:       errors.New("mystore: database schema is newer than this package"),
	}
	ms, err := schema.Load()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range ms {
		fmt.Println(m.Version, m.Name)
	}
	// Output:
	// 1 0001_sessions.sql
	// 2 0002_owner.sql
}

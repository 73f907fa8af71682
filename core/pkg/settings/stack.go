package settings

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Defaults of the stack's settings.
const (
	DefaultS3Bucket   = "pixie"
	DefaultS3Region   = "us-east-1"
	DefaultNATSPrefix = "pixie"
)

// Stack is where the stack backend's servers are. Its secrets are never
// logged or printed.
type Stack struct {
	DatabaseURL   string
	S3Endpoint    string
	S3Bucket      string
	S3Region      string
	S3AccessKey   string
	S3SecretKey   string
	NATSURL       string
	NATSCredsFile string
	NATSPrefix    string
	// Warnings name secrets given as plain values instead of files.
	Warnings []string
}

// stackVars are the variables that choose the stack: setting any of them
// means all of the required ones must be set.
var stackVars = []string{
	"PIXIE_DATABASE_URL", "PIXIE_DATABASE_URL_FILE",
	"PIXIE_S3_ENDPOINT", "PIXIE_S3_BUCKET", "PIXIE_S3_REGION",
	"PIXIE_S3_ACCESS_KEY", "PIXIE_S3_ACCESS_KEY_FILE", "PIXIE_S3_SECRET_KEY", "PIXIE_S3_SECRET_KEY_FILE",
	"PIXIE_NATS_URL", "PIXIE_NATS_CREDS_FILE", "PIXIE_NATS_PREFIX",
}

// IncompleteStackError names the stack settings that are missing when
// some are set.
type IncompleteStackError struct {
	Set, Missing []string
}

func (e *IncompleteStackError) Error() string {
	return fmt.Sprintf("incomplete stack settings: %s %s set but %s %s missing; set %s too for the stack (Postgres, S3, NATS), or unset them all for the embedded backend",
		strings.Join(e.Set, ", "), isAre(e.Set), strings.Join(e.Missing, ", "), isAre(e.Missing), itThem(e.Missing))
}

func isAre(s []string) string {
	if len(s) == 1 {
		return "is"
	}
	return "are"
}

func itThem(s []string) string {
	if len(s) == 1 {
		return "it"
	}
	return "them"
}

var natsPrefix = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadStack reads the stack's settings; it returns nil when none of them
// is set (pixie-core then runs its embedded backend).
func LoadStack(getenv func(string) string) (*Stack, error) {
	var set []string
	for _, v := range stackVars {
		if getenv(v) != "" {
			set = append(set, v)
		}
	}
	if len(set) == 0 {
		return nil, nil
	}
	st := &Stack{
		S3Endpoint:    getenv("PIXIE_S3_ENDPOINT"),
		S3Bucket:      or(getenv("PIXIE_S3_BUCKET"), DefaultS3Bucket),
		S3Region:      or(getenv("PIXIE_S3_REGION"), DefaultS3Region),
		NATSURL:       getenv("PIXIE_NATS_URL"),
		NATSCredsFile: getenv("PIXIE_NATS_CREDS_FILE"),
		NATSPrefix:    or(getenv("PIXIE_NATS_PREFIX"), DefaultNATSPrefix),
	}
	var missing []string
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"PIXIE_DATABASE_URL", &st.DatabaseURL},
		{"PIXIE_S3_ACCESS_KEY", &st.S3AccessKey},
		{"PIXIE_S3_SECRET_KEY", &st.S3SecretKey},
	} {
		v, warning, err := secret(getenv, s.name)
		if err != nil {
			return nil, err
		}
		if v == "" {
			missing = append(missing, s.name+"_FILE")
		}
		*s.dst = v
		if warning != "" {
			st.Warnings = append(st.Warnings, warning)
		}
	}
	if st.S3Endpoint == "" {
		missing = append(missing, "PIXIE_S3_ENDPOINT")
	}
	if st.NATSURL == "" {
		missing = append(missing, "PIXIE_NATS_URL")
	}
	if len(missing) > 0 {
		slices.SortFunc(missing, func(a, b string) int { return slices.Index(stackVars, a) - slices.Index(stackVars, b) })
		return nil, &IncompleteStackError{Set: set, Missing: missing}
	}
	if err := checkURL("PIXIE_S3_ENDPOINT", st.S3Endpoint, "http://s3:7070 or https://s3.example.com", "http", "https"); err != nil {
		return nil, err
	}
	for _, u := range strings.Split(st.NATSURL, ",") {
		if err := checkURL("PIXIE_NATS_URL", u, "nats://nats:4222", "nats", "tls", "ws", "wss"); err != nil {
			return nil, err
		}
	}
	if st.NATSCredsFile != "" {
		if _, err := os.Stat(st.NATSCredsFile); err != nil {
			return nil, &Error{"PIXIE_NATS_CREDS_FILE", st.NATSCredsFile, "name a NATS credentials file the process can read: " + err.Error()}
		}
	}
	if !natsPrefix.MatchString(st.NATSPrefix) {
		return nil, &Error{"PIXIE_NATS_PREFIX", st.NATSPrefix, "use lowercase letters, digits, - and _, e.g. pixie"}
	}
	if strings.ContainsAny(st.S3Bucket, "/ ") || len(st.S3Bucket) < 3 || len(st.S3Bucket) > 63 {
		return nil, &Error{"PIXIE_S3_BUCKET", st.S3Bucket, "use an S3 bucket name of 3 to 63 characters, e.g. pixie"}
	}
	if hasPassword(st.DatabaseURL) && getenv("PIXIE_DATABASE_URL") != "" {
		st.Warnings = append(st.Warnings, "PIXIE_DATABASE_URL holds a password in the environment; prefer PIXIE_DATABASE_URL_FILE")
	}
	return st, nil
}

// LoadDatabaseURL reads only the database URL, for `pixie-core migrate`.
func LoadDatabaseURL(getenv func(string) string) (dbURL string, warnings []string, err error) {
	dbURL, _, err = secret(getenv, "PIXIE_DATABASE_URL")
	if err != nil {
		return "", nil, err
	}
	if dbURL == "" {
		return "", nil, errors.New("PIXIE_DATABASE_URL_FILE (or PIXIE_DATABASE_URL) is unset; set it to the database to migrate")
	}
	if hasPassword(dbURL) && getenv("PIXIE_DATABASE_URL") != "" {
		warnings = append(warnings, "PIXIE_DATABASE_URL holds a password in the environment; prefer PIXIE_DATABASE_URL_FILE")
	}
	return dbURL, warnings, nil
}

// secret reads NAME or the file named by NAME_FILE (one trailing newline
// ignored). A plain value is accepted with a warning, except for the
// database URL, which warns only when it holds a password. Errors never
// repeat the value.
func secret(getenv func(string) string, name string) (value, warning string, err error) {
	plain, file := getenv(name), getenv(name+"_FILE")
	switch {
	case plain != "" && file != "":
		return "", "", &Error{name + "_FILE", file, fmt.Sprintf("set either %s or %s_FILE, not both", name, name)}
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return "", "", &Error{name + "_FILE", file, "name a file the process can read: " + err.Error()}
		}
		value = strings.TrimRight(string(data), "\r\n")
		if value == "" {
			return "", "", &Error{name + "_FILE", file, "the file is empty; write the value into it"}
		}
		return value, "", nil
	case plain != "" && name != "PIXIE_DATABASE_URL":
		return plain, fmt.Sprintf("%s holds a secret in the environment; prefer %s_FILE", name, name), nil
	}
	return plain, "", nil
}

// hasPassword reports whether a postgres URL or key=value string holds a
// password.
func hasPassword(dbURL string) bool {
	if u, err := url.Parse(dbURL); err == nil && u.Scheme != "" {
		_, ok := u.User.Password()
		return ok || u.Query().Has("password")
	}
	return strings.Contains(dbURL, "password=")
}

func checkURL(name, v, example string, schemes ...string) error {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		return &Error{name, redactURL(v), fmt.Sprintf("use a %s:// URL, e.g. %s", strings.Join(schemes, ":// or "), example)}
	}
	return nil
}

// redactURL drops user information, which may hold a password.
func redactURL(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		if strings.Contains(v, "@") {
			return "(hidden)"
		}
		return v
	}
	u.User = nil
	return u.String()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Package soql parses and evaluates the subset of SOQL the Salesforce
// emulator (pkg/sfsim) answers on GET /query. It is strict: what it does not
// support it refuses with MALFORMED_QUERY rather than guessing, and it
// reproduces the literal and escaping rules of the real parser exactly, so a
// client's escaping bugs surface against the emulator too.
//
// Parse checks syntax and binds names against a Schema; Query.Run filters,
// groups, orders and projects in-memory rows. A Query is immutable and safe
// for concurrent use.
//
// # Supported
//
//   - SELECT field, field, … (names case-insensitive; Id always exists),
//     SELECT COUNT(), and COUNT(field) [alias] with or without GROUP BY
//     (unaliased aggregates are named expr0, expr1, …).
//   - FROM one object.
//   - WHERE with = != <> < <= > >= IN (…) NOT IN (…) LIKE, AND, OR, NOT and
//     parentheses. AND and OR may not be mixed at one level without
//     parentheses, as in SOQL.
//   - Literals: 'strings' (single quotes only; escapes \n \r \t \b \f in
//     either case, \" \' \\ \uXXXX, and in LIKE also \_ \%; any other
//     backslash sequence is an error; at most 4,000 characters), numbers,
//     true/false, null, dates (2026-11-27), datetimes
//     (2026-11-27T10:00:00Z, fractional seconds, ±hh:mm offsets), and the
//     relative dates TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n (00:00 n
//     days ago through the end of today) and NEXT_N_DAYS:n (tomorrow and
//     the n-1 days after), all in UTC relative to Run's now.
//   - GROUP BY one or several fields (one row per distinct combination,
//     strings compared as in WHERE, nulls a value of their own; a bucket
//     shows the spelling of its first row); HAVING over COUNT(field) and
//     the grouped fields;
//     ORDER BY fields or COUNT(field), ASC/DESC, NULLS FIRST/LAST (default
//     ASC NULLS FIRST); LIMIT n; OFFSET n (at most 2,000).
//
// # Semantics
//
// String comparisons (=, !=, IN, NOT IN, LIKE and ordering) are
// case-insensitive (Unicode simple folding, as strings.EqualFold) unless the
// field is CaseSensitive. LIKE has % (any run) and _ (one character). Null is
// a value of its own: = 'x' never matches it, != 'x' and NOT IN (…) do, and
// = null / != null test for it. Dates compare as calendar days, datetimes as
// instants, numbers numerically. A literal of the wrong type for its field is
// MALFORMED_QUERY ("value of filter criterion for field 'X' must be of type
// Y and should not be enclosed in quotes"), an unknown object INVALID_TYPE,
// an unknown field INVALID_FIELD with Salesforce's caret message.
//
// # Not supported
//
// Relationship paths (Account.Name) and subqueries, functions other than
// COUNT, ROLLUP/CUBE, INCLUDES/EXCLUDES, bind
// variables, FIELDS(), TYPEOF, WITH, FOR UPDATE, USING SCOPE, object
// aliases, date functions, and the remaining relative dates (THIS_WEEK, …).
// Queries over 100,000 characters are refused.
package soql

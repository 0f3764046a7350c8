// Package formula compiles and evaluates Salesforce validation rule
// conditions (errorConditionFormula): the subset of the formula language that
// rules on Contact commonly use, with the types and blank handling of a real
// org, so that the emulator refuses what Salesforce refuses.
//
// Supported:
//
//   - functions AND, OR, NOT, IF, ISBLANK, ISNULL, ISNEW, ISCHANGED,
//     PRIORVALUE, TEXT, VALUE, LEN, BEGINS, CONTAINS, REGEX and ISPICKVAL
//     (names in any case);
//   - operators && || ! = == != <> < <= > >= + - * / and & (text
//     concatenation; + also concatenates two texts), unary - and +, and
//     parentheses;
//   - literals: numbers (12, 1.5, .5), text in "..." or '...' with the
//     escapes \\ \" \' \n \r \t \b \f, TRUE, FALSE and NULL (any case);
//   - field references by API name, in any case, resolved against the
//     FieldTypes given to Compile; $Permission.Name (does the user hold the
//     custom permission) and $User.Username;
//   - comments /* ... */.
//
// Refused when the formula is compiled, with an *Error naming what is
// refused: any other function (TODAY, BLANKVALUE, CASE, …), the ^ operator,
// cross-object references (Account.Name), other global variables ($Profile,
// $Setup, …), unknown fields, a text compared with a number and every other
// parameter of the wrong type (Salesforce's "Incorrect parameter type"), a
// picklist field used outside ISPICKVAL, TEXT, ISCHANGED and PRIORVALUE,
// ordering comparisons (<, >) of texts, date arithmetic, a REGEX pattern
// that Go's RE2 cannot compile (lookaround, backreferences), and a
// condition that is not a Boolean. When Compile has no FieldTypes, fields
// are of unknown type and the same checks happen during Eval, which then
// returns the *Error.
//
// Semantics, as Salesforce documents them (help.salesforce.com, "Formula
// Operators and Functions"), with the exceptions noted where they are
// implemented:
//
//   - Blank fields are treated as blanks, as in every validation rule:
//     arithmetic or a comparison with a blank number, date or date/time is
//     blank (null), and a condition that is null does not fire. Logic is
//     three-valued: AND is false if any argument is false, else null if any
//     is null; OR is true if any argument is true, else null if any is
//     null; NOT(null) is null.
//   - Text is never null: a blank text field is "", ISBLANK("") is TRUE and
//     ISNULL of a text is always FALSE.
//   - ISNEW() is TRUE when the record is being created; ISCHANGED is FALSE on
//     a new record; PRIORVALUE on a new record returns the current value,
//     not null.
//   - Numbers are float64. Salesforce computes with decimals; integers below
//     2^53 (a Number(18,0) holding microsecond timestamps, about 1.7e15) are
//     exact either way, fractions such as 0.1+0.2 may differ in the last bit.
package formula

// What a service may be called. Apart from spec.ts (the schemas, built with TypeBox) so that a
// config file's names are checked without loading TypeBox (spec-check.ts).
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$';

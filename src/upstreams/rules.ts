import { Kind, type ConstDirectiveNode, type DocumentNode, type FieldDefinitionNode, type ValueNode } from 'graphql';
import type { FieldRule } from './authorization-types.js';

const AUTHORIZED = 'authorized';
const PUBLIC = 'public';

/** What a root type is called in the composed schema, whatever its upstream calls it. */
const COMPOSED_ROOTS = { query: 'Query', mutation: 'Mutation', subscription: 'Subscription' } as const;
const COMPOSED_ROOT_NAMES: ReadonlySet<string> = new Set(Object.values(COMPOSED_ROOTS));

/**
 * Reads the authorization directives straight from the SDL's syntax tree rather than from a built schema, so an
 * upstream may use `@authorized`/`@public` without declaring them (many frameworks print SDL without directive
 * definitions) and a declaration that differs slightly (e.g. roles as an enum) still reads the same.
 *
 * Root types are read under their composed names (the gateway serves every root field on one `Query` /
 * `Mutation` / `Subscription`): a field rule on `query_root.x` is kept as 'Query.x', and a rule on the root type
 * itself is recorded for each of this SDL's own root fields, never for the composed root as a whole.
 */
export function readRules(input: { upstream: string; sdl: DocumentNode; knownRoles: readonly string[] }): {
  fields: Map<string, FieldRule>;
  types: Map<string, FieldRule>;
  rootTypeRules: Map<string, FieldRule>;
  problems: string[];
} {
  const { upstream, sdl, knownRoles } = input;
  const fields = new Map<string, FieldRule>();
  const types = new Map<string, FieldRule>();
  const problems: string[] = [];
  const where = `Upstream "${upstream}"`;
  const roots = rootNames(sdl);
  /** Per root type as the SDL names it: its own rule, and the composed coordinates of its fields. */
  const rootRules = new Map<string, FieldRule>();
  const rootFields = new Map<string, string[]>();

  const misnamed = new Set<string>();
  for (const definition of sdl.definitions) {
    // The gateway serves every upstream's root fields on one Query / Mutation / Subscription, and keeps field rules
    // under those names: a type that takes such a name without being that root (its SDL renamed the root, as
    // `schema { query: RootQuery }` does) would put its rules on the composed root's fields, another upstream's
    // included, and its fields beside theirs.
    const definedName = 'name' in definition ? definition.name?.value : undefined;
    if (definedName !== undefined && COMPOSED_ROOT_NAMES.has(definedName) && roots.get(definedName) !== definedName && !misnamed.has(definedName)) {
      misnamed.add(definedName);
      problems.push(
        `${where}: type ${definedName} is not this SDL's ${definedName.toLowerCase()} root, but the gateway serves every upstream's root fields on a type of that name; rename the type.`,
      );
    }
    if (definition.kind === Kind.DIRECTIVE_DEFINITION) {
      for (const argument of definition.arguments ?? []) refuseOn(argument.directives, `@${definition.name.value}(${argument.name.value}:)`, where, problems);
      continue;
    }
    const isObject = definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION;
    const isInterface = definition.kind === Kind.INTERFACE_TYPE_DEFINITION || definition.kind === Kind.INTERFACE_TYPE_EXTENSION;
    if (definition.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION || definition.kind === Kind.INPUT_OBJECT_TYPE_EXTENSION) {
      for (const field of definition.fields ?? []) refuseOn(field.directives, `${definition.name.value}.${field.name.value}`, where, problems);
    }
    if (definition.kind === Kind.ENUM_TYPE_DEFINITION || definition.kind === Kind.ENUM_TYPE_EXTENSION) {
      for (const value of definition.values ?? []) refuseOn(value.directives, `${definition.name.value}.${value.name.value}`, where, problems);
    }
    if (!isObject && !isInterface) {
      if ('directives' in definition && 'name' in definition && definition.name) {
        for (const directive of definition.directives ?? []) {
          if (directive.name.value === AUTHORIZED || directive.name.value === PUBLIC) {
            problems.push(
              `${where}: @${directive.name.value} on ${definition.name.value} is not supported there; ` +
                `put @authorized on object types or on fields, and @public on fields.`,
            );
          }
        }
      }
      continue;
    }
    const typeName = definition.name.value;
    const composedRoot = isObject ? roots.get(typeName) : undefined;
    for (const directive of definition.directives ?? []) {
      const name = directive.name.value;
      if (name === PUBLIC) {
        problems.push(`${where}: @public on type ${typeName} is not allowed; put @public on the fields that guests may see.`);
      } else if (name === AUTHORIZED && isInterface) {
        problems.push(
          `${where}: @authorized on interface ${typeName} is not supported; put it on the object types that implement it, or on its fields.`,
        );
      } else if (name === AUTHORIZED) {
        const rule = readAuthorized(directive, `type ${typeName}`, where, knownRoles, problems);
        const kept = composedRoot === undefined ? types : rootRules;
        if (rule && kept.has(typeName)) problems.push(`${where}: type ${typeName} carries @authorized more than once; keep one.`);
        else if (rule) kept.set(typeName, rule);
      }
    }
    for (const field of definition.fields ?? []) {
      for (const argument of field.arguments ?? []) refuseOn(argument.directives, `${typeName}.${field.name.value}(${argument.name.value}:)`, where, problems);
      const coordinate = `${composedRoot ?? typeName}.${field.name.value}`;
      if (composedRoot !== undefined) rootFields.set(typeName, [...(rootFields.get(typeName) ?? []), coordinate]);
      const rule = readFieldRule(field, `${typeName}.${field.name.value}`, where, knownRoles, problems);
      if (rule) fields.set(coordinate, rule);
    }
  }
  const rootTypeRules = new Map<string, FieldRule>();
  for (const [typeName, rule] of rootRules) for (const coordinate of rootFields.get(typeName) ?? []) rootTypeRules.set(coordinate, rule);
  return { fields, types, rootTypeRules, problems };
}

/**
 * The SDL's root types by the names it gives them → their composed names. Without a schema definition, graphql-js
 * takes the types named Query, Mutation and Subscription; with one (or an `extend schema`), exactly those listed.
 */
function rootNames(sdl: DocumentNode): Map<string, string> {
  const declared = sdl.definitions.flatMap((definition) =>
    definition.kind === Kind.SCHEMA_DEFINITION || definition.kind === Kind.SCHEMA_EXTENSION ? (definition.operationTypes ?? []) : [],
  );
  if (declared.length === 0) return new Map(Object.values(COMPOSED_ROOTS).map((name) => [name, name]));
  return new Map(declared.map((operationType) => [operationType.type.name.value, COMPOSED_ROOTS[operationType.operation]]));
}

/**
 * @authorized and @public guard fields and object types only. On an argument, an input field or an enum value
 * nothing would read them, so such an SDL would look protected while it is not: refused, naming the coordinate.
 */
function refuseOn(directives: readonly ConstDirectiveNode[] | undefined, coordinate: string, where: string, problems: string[]): void {
  for (const directive of directives ?? []) {
    const name = directive.name.value;
    if (name !== AUTHORIZED && name !== PUBLIC) continue;
    problems.push(
      `${where}: @${name} on ${coordinate} protects nothing (only fields and object types are guarded); remove it, and guard the field or type that exposes it instead.`,
    );
  }
}

function readFieldRule(
  field: FieldDefinitionNode,
  coordinate: string,
  where: string,
  knownRoles: readonly string[],
  problems: string[],
): FieldRule | undefined {
  const found = (field.directives ?? []).filter((directive) => directive.name.value === AUTHORIZED || directive.name.value === PUBLIC);
  if (found.length === 0) return undefined;
  if (found.length > 1) {
    problems.push(`${where}: ${coordinate} carries ${found.map((d) => `@${d.name.value}`).join(' and ')}; keep exactly one of @authorized and @public.`);
    return undefined;
  }
  const directive = found[0]!;
  if (directive.name.value === PUBLIC) {
    if ((directive.arguments ?? []).length > 0) {
      problems.push(`${where}: @public on ${coordinate} takes no arguments; write it as @public.`);
      return undefined;
    }
    return { kind: 'public' };
  }
  return readAuthorized(directive, coordinate, where, knownRoles, problems);
}

function readAuthorized(
  directive: ConstDirectiveNode,
  subject: string,
  where: string,
  knownRoles: readonly string[],
  problems: string[],
): FieldRule | undefined {
  let roles: string[] = [];
  let named = false;
  let mfa = false;
  for (const argument of directive.arguments ?? []) {
    if (argument.name.value === 'mfa') {
      if (argument.value.kind !== Kind.BOOLEAN) {
        problems.push(`${where}: @authorized(mfa:) on ${subject} must be true or false, e.g. @authorized(mfa: true).`);
        return undefined;
      }
      mfa = argument.value.value;
      continue;
    }
    if (argument.name.value !== 'roles') {
      problems.push(`${where}: @authorized on ${subject} has an unknown argument "${argument.name.value}"; the arguments are roles: ["ROLE", ...] and mfa: true.`);
      return undefined;
    }
    const read = readRoleList(argument.value);
    if (read === undefined) {
      problems.push(`${where}: @authorized(roles:) on ${subject} must be a list of role names, e.g. roles: ["ADMIN"].`);
      return undefined;
    }
    named = read !== null;
    roles = read ?? [];
  }
  if (named && roles.length === 0) {
    problems.push(`${where}: @authorized(roles: []) on ${subject} names no role, so nobody could pass; name at least one role, or write @authorized for any signed-in user.`);
    return undefined;
  }
  const unknown = roles.filter((role) => !knownRoles.includes(role));
  if (unknown.length > 0) {
    const hints = unknown.map((role) => {
      const near = knownRoles.find((known) => known.toUpperCase() === role.toUpperCase());
      return near ? `"${role}" (did you mean "${near}"?)` : `"${role}"`;
    });
    problems.push(
      `${where}: @authorized(roles:) on ${subject} names the unknown role ${hints.join(', ')}. ` +
        `Known roles: ${knownRoles.join(', ')}. Add it to ROLES or correct the upstream's SDL.`,
    );
    return undefined;
  }
  return { kind: 'authorized', roles: [...new Set(roles)], ...(mfa && { mfa: true }) };
}

/**
 * A list of strings (or enum literals, for SDLs that declare roles as an enum); one value counts as a list of one
 * (GraphQL's input coercion). `null` is the same as no argument; `undefined` means not a role list.
 */
function readRoleList(value: ValueNode): string[] | null | undefined {
  if (value.kind === Kind.NULL) return null;
  const items = value.kind === Kind.LIST ? value.values : [value];
  const roles: string[] = [];
  for (const item of items) {
    if (item.kind !== Kind.STRING && item.kind !== Kind.ENUM) return undefined;
    roles.push(item.value);
  }
  return roles;
}

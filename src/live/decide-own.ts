import { getDirective } from '@graphql-tools/utils';
import { getOperationAST, Kind, TypeInfo, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { SignedInViewer } from '../auth/auth-service.js';
import { AUTHORIZED } from '../graphql/authorized.js';

/**
 * Response paths of the fields of an operation on the gateway's own schema that this viewer's roles no longer
 * open (`@authorized(roles:)`), so that a live operation can be decided again when an administrator takes a role
 * away: the resolvers check on every event too, but an operation with no events would never notice.
 */
export function ownFieldsDenied(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, viewer: SignedInViewer): string[][] {
  const operation = getOperationAST(document, operationName);
  if (!operation) return [];
  const typeInfo = new TypeInfo(schema);
  const denied: string[][] = [];
  const path: string[] = [];
  visit(
    operation,
    visitWithTypeInfo(typeInfo, {
      [Kind.FIELD]: {
        enter(node) {
          path.push(node.alias?.value ?? node.name.value);
          const field = typeInfo.getFieldDef();
          const roles = field ? ((getDirective(schema, field, AUTHORIZED)?.[0]?.['roles'] as string[] | undefined) ?? []) : [];
          if (roles.length > 0 && !roles.some((role) => viewer.roles.includes(role))) denied.push([...path]);
        },
        leave() {
          path.pop();
        },
      },
    }),
  );
  return denied;
}

import { z } from 'zod';

/** The environment as given: every variable a string or absent. */
export type Env = Readonly<Record<string, string | undefined>>;

/** Whole seconds (or any whole number) within bounds, from a string. */
export const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A comma-separated list; blanks around and between entries are ignored. */
export const list = (item: z.ZodString) =>
  z
    .string()
    .transform((text) => text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''))
    .pipe(z.array(item));

export const flag = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** The parsed values of a group of variables; a variable whose value was refused is absent (its problem is reported). */
export type ParsedVariables<Shape extends z.ZodRawShape> = Partial<{ [Name in keyof Shape]: z.infer<Shape[Name]> }>;

import Ajv, { type ValidateFunction } from 'ajv';
import budgetSchema from '../../../schemas/budget.schema.json';
import inventorySchema from '../../../schemas/inventory.schema.json';
import workflowSchema from '../../../schemas/workflow.schema.json';

/**
 * The JSON Schemas in `schemas/` are the single description of the files: VS Code reads them (jsonValidation in
 * package.json) for hover, completion and squiggles, and core validates with the same files through ajv.
 * Compiled once, lazily (compiling costs milliseconds; validating microseconds).
 */

/** Keywords only VS Code's JSON language service reads; registered so ajv's strict mode accepts them. */
const EDITOR_KEYWORDS = [
  'allowComments',
  'allowTrailingCommas',
  'defaultSnippets',
  'enumDescriptions',
  'markdownDescription',
  'markdownEnumDescriptions',
  'patternErrorMessage',
  'deprecationMessage',
  'errorMessage',
];

let ajv: Ajv | undefined;
const compiled = new Map<string, ValidateFunction>();

function compile(name: string, schema: object): ValidateFunction {
  let validate = compiled.get(name);
  if (!validate) {
    if (!ajv) {
      // allErrors: report every problem at once. Formats (uri) are for the editor; core checks URLs itself.
      ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, validateFormats: false });
      for (const keyword of EDITOR_KEYWORDS) ajv.addKeyword(keyword);
    }
    validate = ajv.compile(schema);
    compiled.set(name, validate);
  }
  return validate;
}

export const validateBudgetFile = (): ValidateFunction => compile('budget', budgetSchema);
export const validateWorkflowFile = (): ValidateFunction => compile('workflow', workflowSchema);
export const validateInventoryFile = (): ValidateFunction => compile('inventory', inventorySchema);

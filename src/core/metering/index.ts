// The metered-call seam: every paid call is begun here and ended exactly once (see meter.ts).
export { Meter, type CallResult, type MeteredCall } from './meter';
export {
  CUT_OUTPUT_MARGIN,
  failedCallCharge,
  type CallFailure,
  type CutEstimate,
  type FailedCallCharge,
  type PromptSplit,
} from './failure';

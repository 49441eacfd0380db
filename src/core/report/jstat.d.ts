// The part of jStat (https://github.com/jstat/jstat) the reports use; the package ships no types.
declare module 'jstat' {
  export const jStat: {
    studentt: { inv(p: number, dof: number): number };
    normal: { inv(p: number, mean: number, sd: number): number };
  };
}

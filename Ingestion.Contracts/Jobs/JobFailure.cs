namespace Ingestion.Contracts.Jobs;

/// <summary>Why a job failed, as <c>GET /v1/jobs/{id}</c> shows it in <c>error</c>.</summary>
/// <param name="Code">
/// Stable and machine-readable, what failures are grouped by: <c>missing_columns</c>, <c>not_text</c>,
/// <c>reject_limit</c>, <c>unknown_dataset</c>…, or the exception type of a failure the worker could not handle.
/// </param>
/// <param name="Message">For a person: what went wrong, naming the line and column where there is one.</param>
public sealed record JobFailure(string Code, string Message);

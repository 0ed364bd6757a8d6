namespace Ingestion.Contracts.Statements;

/// <summary>
/// Render an account's statement for a period (inclusive dates, UTC) from the tenant's
/// <c>transactions</c> dataset, as <c>POST /v1/statements</c> does. Publish it to request a
/// statement without the HTTP API; publishing it twice with the same JobId makes one job.
/// </summary>
/// <param name="CallbackUrl">Optional http(s) URL notified when the statement is ready or failed.</param>
public sealed record BuildStatement(
    Guid JobId,
    string TenantId,
    long AccountId,
    DateOnly From,
    DateOnly To,
    string? CallbackUrl = null) : IJobMessage;

namespace Ingestion.Contracts.Statements;

/// <summary>
/// Render an account's statement for a period (inclusive dates, UTC) from the tenant's
/// <c>transactions</c> dataset, as <c>POST /v1/statements</c> does. Publish it to request a
/// statement without the HTTP API; publishing it twice with the same JobId makes one job.
/// </summary>
/// <param name="JobId">The job's id, chosen by the caller: a repeat with the same id is the same job.</param>
/// <param name="TenantId">The tenant whose <c>transactions</c> dataset is read.</param>
/// <param name="AccountId">The account (<c>account_id</c>) the statement is of.</param>
/// <param name="From">First day of the period, inclusive, UTC.</param>
/// <param name="To">Last day of the period, inclusive, UTC.</param>
/// <param name="CallbackUrl">Optional http(s) URL notified when the statement is ready or failed.</param>
public sealed record BuildStatement(
    Guid JobId,
    string TenantId,
    long AccountId,
    DateOnly From,
    DateOnly To,
    string? CallbackUrl = null) : IJobMessage;

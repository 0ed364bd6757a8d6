namespace Ingestion.Contracts.Statements;

/// <summary>Render the job's statement and store it in S3. Safe to deliver more than once.</summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose <c>transactions</c> dataset is read.</param>
/// <param name="AccountId">The account the statement is of.</param>
/// <param name="From">First day of the period, inclusive, UTC.</param>
/// <param name="To">Last day of the period, inclusive, UTC.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record RenderStatement(
    Guid JobId,
    string TenantId,
    long AccountId,
    DateOnly From,
    DateOnly To,
    int Attempt = 0) : IAttemptMessage;

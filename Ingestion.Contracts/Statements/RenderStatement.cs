namespace Ingestion.Contracts.Statements;

/// <summary>Render the job's statement and store it in S3. Safe to deliver more than once.</summary>
public sealed record RenderStatement(
    Guid JobId,
    string TenantId,
    long AccountId,
    DateOnly From,
    DateOnly To,
    int Attempt = 0) : IAttemptMessage;

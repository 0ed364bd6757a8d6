namespace Ingestion.Contracts.Statements;

/// <summary>A worker planned the statement: how many lines and pages, in how many volumes.</summary>
public sealed record StatementRenderingStarted(
    Guid JobId,
    long LinesTotal,
    int PagesTotal,
    int Volumes,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;

namespace Ingestion.Contracts.Statements;

/// <summary>Where rendering stands. Published at most a few times a second.</summary>
public sealed record StatementProgressed(
    Guid JobId,
    long LinesRendered,
    int PagesRendered,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;

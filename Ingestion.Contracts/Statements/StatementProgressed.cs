namespace Ingestion.Contracts.Statements;

/// <summary>Where rendering stands. Published at most a few times a second.</summary>
/// <param name="JobId">The job.</param>
/// <param name="LinesRendered">Statement lines rendered so far.</param>
/// <param name="PagesRendered">Pages rendered so far.</param>
/// <param name="At">When this was measured.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record StatementProgressed(
    Guid JobId,
    long LinesRendered,
    int PagesRendered,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;

namespace Ingestion.Contracts;

/// <summary>
/// A message about one attempt of a job's work: the work command and what the worker says back.
/// A retry starts the next attempt, so a late event of an earlier one is recognised and changes
/// nothing. 0 is a message from before attempts were counted; it is taken as the current attempt.
/// </summary>
public interface IAttemptMessage : IJobMessage
{
    /// <summary>The attempt the message belongs to: 1, then one more for every retry of the job.</summary>
    int Attempt { get; }
}

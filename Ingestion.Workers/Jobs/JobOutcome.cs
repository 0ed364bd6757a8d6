namespace Ingestion.Workers.Jobs;

/// <summary>Where a job's work stands when a message's turn ends, and so what becomes of the message.</summary>
public enum JobOutcome
{
    /// <summary>The step ended the job, or had nothing to do: its event is published, the message is done.</summary>
    Done,

    /// <summary>The step's time is up with work left: the message goes back to the queue for any worker.</summary>
    Continue,

    /// <summary>
    /// The step waits for something outside its control until <see cref="JobRun{TCommand}.ResumeAt"/> (an upstream's rate
    /// budget): the command is written to the outbox to be sent then, and this message is done, so no message and no
    /// thread is held for the wait, and a restart forgets nothing.
    /// </summary>
    Later,

    /// <summary>The job stopped for a cancel; if it was retried meanwhile, the message carries the retry on.</summary>
    Cancelled,

    /// <summary>(The worker's) another worker holds the job; this delivery steps aside (a redelivered one is sent again after a pause).</summary>
    Busy,

    /// <summary>(The worker's) every slot of the job's tenant is taken; the message waits its turn in the queue.</summary>
    Waiting,
}

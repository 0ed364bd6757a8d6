using System.ComponentModel.DataAnnotations;

namespace Ingestion.Api.Console;

/// <summary>The web console's sessions (<c>Console</c> section).</summary>
public sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>
    /// How long a sign-in lasts, from the moment the key was exchanged (not slid by activity):
    /// a session taken from a forgotten browser ends within a working day.
    /// </summary>
    [Range(1, 7 * 24 * 60)]
    public int SessionMinutes { get; set; } = 480;
}

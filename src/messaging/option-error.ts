/** An option value the messaging layer cannot work with; `option` names it for the config loader's message. */
export class MessagingOptionError extends Error {
  constructor(readonly option: string, reason: string) {
    super(reason);
    this.name = 'MessagingOptionError';
  }
}

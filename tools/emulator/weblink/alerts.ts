// Alert subscriptions and alert messages (WEBLINK.md A.10).
//
// An entry is `condition,destination,on-set,on-clear,address,port,quelling[,sgd]`;
// entries are `|`-separated. Only destination SDK reaches a Weblink server.
// `configure_alert` on main and `alerts.add` add entries (an entry with both
// flags N removes that condition's entry instead); `alerts.configured`
// replaces the list. ALL MESSAGES matches every condition.

export type AlertState = 'SET' | 'CLEAR';

interface Entry {
  condition: string;
  destination: string;
  onSet: boolean;
  onClear: boolean;
  /** SGD SET only: the setting watched. */
  sgd: string;
  text: string;
}

export const FACTORY_ALERTS = 'COLD START,SNMP,Y,N,255.255.255.255,162,N';

function parseEntry(text: string): Entry | undefined {
  const f = text.split(',').map((s) => s.trim());
  if (f.length < 4 || f[0] === '') return undefined;
  return { condition: f[0]!.toUpperCase(), destination: (f[1] ?? '').toUpperCase(), onSet: f[2]?.toUpperCase() === 'Y', onClear: f[3]?.toUpperCase() === 'Y', sgd: f[7] ?? '', text };
}

export class AlertConfig {
  private entries: Entry[] = [];

  constructor(initial = FACTORY_ALERTS) {
    this.replace(initial);
  }

  /** Adds the `|`-separated entries; returns how many were understood. */
  add(list: string): number {
    let n = 0;
    for (const part of list.split('|')) {
      const e = parseEntry(part);
      if (!e) continue;
      n++;
      this.entries = this.entries.filter((x) => !(x.condition === e.condition && x.destination === e.destination && x.sgd === e.sgd));
      if (e.onSet || e.onClear) this.entries.push(e);
    }
    return n;
  }

  replace(list: string): void {
    this.entries = [];
    this.add(list);
  }

  /** The list as `alerts.configured` shows it. */
  get text(): string {
    return this.entries.map((e) => e.text).join('|');
  }

  /** True when an SDK subscription wants this condition in this state. */
  wants(condition: string, state: AlertState, setting?: string): boolean {
    return this.entries.some((e) => {
      if (e.destination !== 'SDK' || !(state === 'SET' ? e.onSet : e.onClear)) return false;
      // An SGD SET alert names one setting; ALL MESSAGES does not cover it.
      if (condition === 'SGD SET') return e.condition === condition && (e.sgd === '' || e.sgd === setting);
      return e.condition === condition || e.condition === 'ALL MESSAGES';
    });
  }
}

/** The alert message as a ZD420 sends it. */
export function alertMessage(serial: string, condition: string, state: AlertState, timeStamp: string, setting?: { name: string; value: string }): object {
  return {
    alert: {
      unique_id: serial,
      time_stamp: timeStamp,
      type_id: 'ALERT',
      condition_id: condition,
      condition_state: state,
      type: 'ALERT',
      condition,
      ...(setting ? { setting_name: setting.name, setting_value: setting.value } : {}),
    },
  };
}
